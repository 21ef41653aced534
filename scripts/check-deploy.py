#!/usr/bin/env python3
"""Consistency checks of deploy/ that no schema validator makes (called by scripts/check-deploy.sh).

    check-deploy.py kubernetes RENDERED.yaml DEPLOY_DIR     the rendered kustomization + job.yaml, drain-job.yaml
    check-deploy.py systemd UNIT_DIR                        the units of deploy/systemd
    check-deploy.py render DEPLOY_DIR/kubernetes            fallback renderer when no kubectl is installed

Each failed check prints `FAIL: <what>` and the script exits 1; each passed one prints `ok: <what>`.
"""
import copy
import json
import os
import sys
import tomllib

import yaml

failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures += 1


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_of(job_spec):
    return job_spec["template"]["spec"]


def container(job_spec, name="etl"):
    return next(c for c in pod_of(job_spec)["containers"] if c["name"] == name)


def env(c):
    return {e["name"]: e for e in c.get("env", [])}


def kubernetes(rendered, deploy):
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs(rendered)}
    cron = objs[("CronJob", "app-etl")]
    spec = cron["spec"]["jobTemplate"]["spec"]
    etl = container(spec)
    n = spec["completions"]
    check(spec["completionMode"] == "Indexed", "the CronJob's Job is Indexed")
    check(cron["spec"]["concurrencyPolicy"] == "Forbid", "concurrencyPolicy Forbid (two runs never share a spool)")
    check(spec["parallelism"] == n and env(etl)["SHARD_COUNT"]["value"] == str(n),
          f"completions = parallelism = SHARD_COUNT = {n}")
    check(etl["args"][:3] == ["etl", "--config", "/etc/app/config.toml"]
          and etl["args"][3:] == ["--shard", "$(JOB_COMPLETION_INDEX)/$(SHARD_COUNT)"],
          "each pod runs `app etl --config /etc/app/config.toml --shard $(JOB_COMPLETION_INDEX)/$(SHARD_COUNT)`")
    idx = env(etl)["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    check(idx == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
          "JOB_COMPLETION_INDEX comes from the Job's completion-index annotation")
    mounts = {m["mountPath"]: m for m in etl["volumeMounts"]}
    check(mounts["/app/spool"].get("subPathExpr") == "shard-$(JOB_COMPLETION_INDEX)",
          "each shard's spool is its own subPathExpr shard-$(JOB_COMPLETION_INDEX)")
    rules = {r["action"]: r for r in spec["podFailurePolicy"]["rules"]}
    check(rules["FailJob"]["onExitCodes"]["values"] == [2], "podFailurePolicy: exit 2 fails the Job")
    check(rules["FailIndex"]["onExitCodes"]["values"] == [3] and "backoffLimitPerIndex" in spec,
          "podFailurePolicy: exit 3 fails its index without a retry (backoffLimitPerIndex set)")
    check(pod_of(spec)["restartPolicy"] == "Never", "restartPolicy Never (podFailurePolicy needs it)")
    psc, csc = pod_of(spec)["securityContext"], etl["securityContext"]
    check(psc["runAsNonRoot"] and psc["runAsUser"] == 10001 and psc["runAsGroup"] == 10001
          and psc["seccompProfile"]["type"] == "RuntimeDefault",
          "pod: non-root as the image's user 10001:10001, seccomp RuntimeDefault")
    check(csc["readOnlyRootFilesystem"] and csc["allowPrivilegeEscalation"] is False
          and csc["capabilities"]["drop"] == ["ALL"], "container: read-only root, no privilege escalation, no capability")
    res = etl["resources"]
    check(all(k in res["requests"] for k in ("cpu", "memory")) and "memory" in res["limits"],
          "resource requests (cpu, memory) and a memory limit")
    check(any(p["name"] == "metrics" and p["containerPort"] == 9898 for p in etl["ports"]),
          "the Prometheus port is declared (9898, `metrics`)")

    # The ConfigMap's config agrees with the pod: every path it names is mounted, no log file, metrics on the port.
    config = tomllib.loads(objs[("ConfigMap", "app-etl-config")]["data"]["config.toml"])
    check(config["log"]["file"] == "", "log.file is empty: logs go to the container's stderr only")
    check(config["metrics"]["addr"].endswith(":9898"), "metrics.addr listens on the declared port")
    check(config["spool"]["dir"] == "/app/spool", "spool.dir is the spool volume's mount path")
    check(os.path.dirname(config["load"]["token_file"]) in mounts, "load.token_file is in the token Secret's mount")
    check(config["load"]["endpoint"].startswith("https://") and os.path.dirname(config["load"]["ca_file"]) in mounts
          and not config["load"].get("insecure_skip_verify", False),
          "load.endpoint is https:// with load.ca_file in a mount (the token never crosses the network in clear)")
    check(env(etl).get("APP__METRICS__ADDR", {}).get("value") == "$(POD_IP):9898"
          and env(etl)["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP",
          "/metrics binds the pod's own address (APP__METRICS__ADDR=$(POD_IP):9898)")
    policy = objs.get(("NetworkPolicy", "app-etl"))
    check(policy is not None and policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "app-etl"}
          and sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
          and [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]] == [9898]
          and all(r.get("from") for r in policy["spec"]["ingress"]),
          "a NetworkPolicy selects the ETL's pods: ingress only to 9898 from named peers, egress listed")
    inv = config["inventory"]["path"]
    check(os.path.dirname(inv) in mounts
          and os.path.basename(inv) in objs[("ConfigMap", "app-etl-inventory")]["data"],
          "inventory.path is a key of the inventory ConfigMap, in its mount")
    check("/etc/app/config.toml" in mounts and "/tmp" in mounts, "the config and a writable /tmp are mounted")
    secret_vols = {v["name"]: v for v in pod_of(spec)["volumes"] if "secret" in v}
    check({v["secret"]["secretName"] for v in secret_vols.values()} == {"app-etl-token", "app-etl-snmp"},
          "the token and the SNMP credentials are Secrets mounted as files")
    writable = [m["mountPath"] for m in etl["volumeMounts"] if not m.get("readOnly")]
    check(sorted(writable) == ["/app/spool", "/tmp"], "only the spool and /tmp are writable")

    # job.yaml is the CronJob's Job; drain-job.yaml the same pod running `app replay`.
    once = docs(os.path.join(deploy, "job.yaml"))[0]
    check(once["spec"] == spec, "job.yaml's spec equals the CronJob's jobTemplate.spec")
    drain = docs(os.path.join(deploy, "drain-job.yaml"))[0]
    expect = copy.deepcopy(spec)
    container(expect)["args"] = ["replay", "--config", "/etc/app/config.toml"]
    expect["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "drain"
    check(drain["spec"] == expect, "drain-job.yaml is the same Job running `app replay` on the same shard directories")


def unit(path):
    """The directives of a unit file as (section, key, value) triples, in order."""
    out, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.append((section, key, value))
    return out


def systemd(d):
    shard = unit(os.path.join(d, "app-etl@.service"))
    keys = {k for _, k, _ in shard}
    for k in ("StateDirectory", "LoadCredential", "ProtectSystem", "NoNewPrivileges", "PrivateTmp", "ProtectHome",
              "RestrictAddressFamilies", "SystemCallFilter", "DynamicUser", "CapabilityBoundingSet", "LimitCORE"):
        check(k in keys, f"app-etl@.service sets {k}=")
    d_ = dict((k, v) for _, k, v in shard if k != "Environment")
    check(d_["ExecStart"].endswith(" --shard %I"), "app-etl@.service: the shard is the unescaped instance name (%I)")
    check("APP__LOAD__TOKEN_FILE=%d/token" in [v for _, k, v in shard if k == "Environment"]
          and d_["LoadCredential"] == "token:/etc/app-etl/token",
          "the token reaches the app as $CREDENTIALS_DIRECTORY/token (LoadCredential)")
    check(d_["LimitCORE"] == "0", "app-etl@.service: LimitCORE=0 (no core file holds a secret)")
    check("APP__LOG__FILE=" in [v for _, k, v in shard if k == "Environment"], "no log file (the journal has stderr)")

    def without(directives, drop):
        return [t for t in directives if t[1] not in drop]

    single = unit(os.path.join(d, "app-etl.service"))
    same = [(s, k, v.replace(" --shard %I", "").replace("shard-%i", "spool")) for s, k, v in shard]
    check(without(single, {"Description"}) == without(same, {"Description"}),
          "app-etl.service is app-etl@.service without the shard (spool /var/lib/app-etl/spool)")
    replay = unit(os.path.join(d, "app-etl-replay@.service"))
    same = [(s, k, v.replace(" etl --config /etc/app-etl/config.toml --shard %I", " replay --config /etc/app-etl/config.toml"))
            for s, k, v in shard]
    check(without(replay, {"Description"}) == without(same, {"Description"}),
          "app-etl-replay@.service is app-etl@.service running `app replay` on the same directory")
    t1, t2 = unit(os.path.join(d, "app-etl@.timer")), unit(os.path.join(d, "app-etl.timer"))
    check(without(t1, {"Description"}) == without(t2, {"Description"}), "the two timers have the same schedule")


def render(kdir):
    """What `kubectl kustomize` makes of this kustomization (resources, configMapGenerator with files and fixed names,
    generatorOptions labels, images), for machines without kubectl. Only the features the kustomization uses."""
    k = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
    unknown = set(k) - {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "images"}
    if unknown or not k.get("generatorOptions", {}).get("disableNameSuffixHash"):
        sys.exit(f"render: the fallback does not know {sorted(unknown) or 'name suffix hashes'}: install kubectl")
    out = []
    for r in k["resources"]:
        out.extend(docs(os.path.join(kdir, r)))
    for g in k.get("configMapGenerator", []):
        data = {}
        for f in g["files"]:
            key, _, path = f.rpartition("=")
            data[key or os.path.basename(path)] = open(os.path.join(kdir, path)).read()
        labels = k.get("generatorOptions", {}).get("labels", {})
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"], "labels": labels},
                    "data": data})
    for img in k.get("images", []):
        for d in out:
            spec = d.get("spec", {}).get("jobTemplate", {}).get("spec", d.get("spec", {}))
            for c in spec.get("template", {}).get("spec", {}).get("containers", []):
                if c["image"].split(":")[0] == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img['newTag']}"
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "kubernetes":
        kubernetes(sys.argv[2], sys.argv[3])
    elif what == "systemd":
        systemd(sys.argv[2])
    elif what == "render":
        render(sys.argv[2])
        sys.exit(0)
    else:
        sys.exit(f"unknown check {what}")
    sys.exit(1 if failures else 0)

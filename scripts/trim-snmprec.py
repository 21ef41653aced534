#!/usr/bin/env python3
"""Trims the snmpsim-data recordings the real-recordings test serves (tests/it/snmp_recordings.rs) to the sub-trees a
CPU poller reads, so that snmpsim indexes them in seconds instead of minutes, and writes them to tests/data/snmprec/
as `<folder>-<subfolder>-<name>.snmprec` (the file name without `.snmprec` is the community snmpsim answers).

Usage: scripts/trim-snmprec.py [SNMPSIM_DATA_DIR] [OUT_DIR]
  SNMPSIM_DATA_DIR  the `data` directory of the installed PyPI package snmpsim-data (default: found through the
                    python3 that runs this script, e.g. /opt/snmpsim/bin/python3)
  OUT_DIR           default tests/data/snmprec

Only the 75 recordings under network/ and cloud/ are read. Kept: the sub-trees in KEEP below (system, the entity
names and classes, HOST-RESOURCES devices and processors, UCD-SNMP-MIB, and the vendors' CPU trees); add a prefix
there when a profile reads another tree, and run the script again.
"""
import bz2
import os
import sys

KEEP = [
    "1.3.6.1.2.1.1.1.",              # sysDescr
    "1.3.6.1.2.1.1.2.",              # sysObjectID
    "1.3.6.1.2.1.1.3.",              # sysUpTime
    "1.3.6.1.2.1.1.5.",              # sysName
    "1.3.6.1.2.1.47.1.1.1.1.2.",     # entPhysicalDescr
    "1.3.6.1.2.1.47.1.1.1.1.4.",     # entPhysicalContainedIn
    "1.3.6.1.2.1.47.1.1.1.1.5.",     # entPhysicalClass
    "1.3.6.1.2.1.47.1.1.1.1.7.",     # entPhysicalName
    "1.3.6.1.2.1.25.3.2.1.",         # hrDeviceTable
    "1.3.6.1.2.1.25.3.3.",           # hrProcessorTable
    "1.3.6.1.4.1.2021.10.",          # UCD laTable
    "1.3.6.1.4.1.2021.11.",          # UCD systemStats
    "1.3.6.1.4.1.9.9.109.1.1.",      # Cisco CISCO-PROCESS-MIB cpmCPUTotalTable
    "1.3.6.1.4.1.9.2.1.",            # Cisco OLD-CISCO-CPU (busyPer, avgBusy1, avgBusy5)
    "1.3.6.1.4.1.14179.1.1.5.",      # Cisco WLC agentCurrentCPUUtilization
    "1.3.6.1.4.1.2636.3.1.13.",      # Juniper jnxOperatingTable
    "1.3.6.1.4.1.2636.3.39.1.12.",   # Juniper SRX jnxJsSPUMonitoring
    "1.3.6.1.4.1.14525.4.8.1.1.",    # Juniper (Trapeze) WLC system
    "1.3.6.1.4.1.2011.5.25.31.1.1.1.",  # Huawei hwEntityStateTable
    "1.3.6.1.4.1.2011.6.3.4.",       # Huawei hwCpuDevTable
    "1.3.6.1.4.1.2011.10.2.6.1.1.1.",   # H3C (Huawei-3Com tree) hh3cEntityExtStateTable
    "1.3.6.1.4.1.25506.2.6.1.1.1.",  # H3C/HPE Comware hh3cEntityExtStateTable
    "1.3.6.1.4.1.12356.101.4.1.",    # Fortinet fgSystemInfo
    "1.3.6.1.4.1.12356.101.4.4.",    # Fortinet fgProcessorTable
    "1.3.6.1.4.1.25461.2.1.2.",      # Palo Alto panSys
    "1.3.6.1.4.1.14823.2.2.1.1.1.9.",   # Aruba wlsxSysXProcessorTable
    "1.3.6.1.4.1.14823.2.2.1.2.1.13.",  # Aruba wlsxSysExtProcessorTable
    "1.3.6.1.4.1.47196.4.1.1.3.8.",  # Aruba CX
    "1.3.6.1.4.1.47196.4.1.1.3.10.0.3.",  # Aruba CX arubaWiredVsfMemberTable
    "1.3.6.1.4.1.47196.4.1.1.3.15.1.2.",  # Aruba CX arubaWiredVsfv2MemberTable
    "1.3.6.1.4.1.11.2.14.11.5.1.9.6.",  # HPE ProCurve hpSwitchCpuStat
    "1.3.6.1.4.1.1991.1.1.2.1.",     # Brocade/Ruckus ICX snAgentGbl (snAgGblCpuUtil*)
    "1.3.6.1.4.1.1991.1.1.2.11.",    # Brocade/Ruckus ICX snAgentCpuUtilTable
    "1.3.6.1.4.1.1588.2.1.1.1.26.",  # Brocade FC swCpuOrMemoryUsage
    "1.3.6.1.4.1.171.12.1.1.6.",     # D-Link agentCPUutilization
    "1.3.6.1.4.1.4881.1.1.10.2.36.1.1.", # Ruijie ruijieCPUUtilizationMIB scalars
    "1.3.6.1.4.1.3902.3.",           # ZTE ZXR10 (trimmed again below to its CPU columns)
    "1.3.6.1.4.1.6339.100.1.8.1.",   # DCN (dcrs/dcs) switchCPU
    "1.3.6.1.4.1.5651.3.20.1.1.1.",  # Maipu CPU
    "1.3.6.1.4.1.3320.9.109.",       # BDCOM CPU
    "1.3.6.1.4.1.35047.1.",          # Sangfor system
    "1.3.6.1.4.1.25053.1.1.11.1.1.1.1.", # Ruckus SmartCell system
    "1.3.6.1.4.1.41112.1.4.",        # Ubiquiti AirOS
    "1.3.6.1.4.1.10002.1.1.1.4.",    # Ubiquiti (Frogfoot) loadValue
    "1.3.6.1.4.1.4413.1.1.1.1.4.",   # Broadcom FASTPATH / EdgeSwitch agentSwitchCpuProcess
    "1.3.6.1.4.1.3375.2.1.7.5.2.",   # F5 sysMultiHostCpuTable
    "1.3.6.1.4.1.3375.2.1.1.2.20.",  # F5 sysGlobalHostCpu
    "1.3.6.1.4.1.1916.1.32.1.",      # Extreme EXOS extremeSwMonitorCpu
    "1.3.6.1.4.1.2272.1.85.10.1.1.", # Extreme VOSS rcKhiSlotPerfTable
    "1.3.6.1.4.1.2272.1.1.20.",      # Extreme VOSS rcSysCpuUtil
    "1.3.6.1.4.1.6486.800.1.2.1.16.1.1.",  # Alcatel-Lucent AOS 6 health
    "1.3.6.1.4.1.6486.801.1.2.1.16.1.1.",  # Alcatel-Lucent AOS 7/8 health
    "1.3.6.1.4.1.4526.10.1.1.4.",    # Netgear agentSwitchCpuProcess (older tree)
    "1.3.6.1.4.1.4526.11.1.1.4.",    # Netgear agentSwitchCpuProcess (newer tree)
    "1.3.6.1.4.1.22610.2.4.1.3.",    # A10 axSysCpu
    "1.3.6.1.4.1.6027.3.10.1.2.9.",  # Dell OS9 S series chStackUnitUtilTable
    "1.3.6.1.4.1.6027.3.8.1.3.7.",   # Dell OS9 C series chRpmUtilTable
]
# ZTE's 3902.3 tree is large: only ZXR10-MIB zxr10SystemUnitTable (the zte-zxr10 profile's CPU columns).
ZTE_CPU = ("1.3.6.1.4.1.3902.3.3.1.1.",)


def kept(oid):
    if oid.startswith("1.3.6.1.4.1.3902.3."):
        return oid.startswith(ZTE_CPU)
    return oid.startswith(tuple(KEEP))


def main():
    if len(sys.argv) > 1:
        data = sys.argv[1]
    else:
        import snmpsim_data
        data = os.path.join(os.path.dirname(snmpsim_data.__file__), "data")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "tests/data/snmprec")
    os.makedirs(out, exist_ok=True)
    count = 0
    for top in ("network", "cloud"):
        for root, _, files in sorted(os.walk(os.path.join(data, top))):
            for f in sorted(files):
                if not f.endswith((".snmprec", ".snmprec.bz2")):
                    continue
                path = os.path.join(root, f)
                opener = bz2.open if f.endswith(".bz2") else open
                rel = os.path.relpath(path, data)
                name = rel[: rel.index(".snmprec")].replace(os.sep, "-")
                with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as src:
                    lines = [l for l in src if kept(l.split("|", 1)[0] + ".")]
                with open(os.path.join(out, name + ".snmprec"), "w", encoding="utf-8", errors="surrogateescape") as dst:
                    dst.writelines(lines)
                count += 1
    print(f"{count} recordings trimmed into {out}")


if __name__ == "__main__":
    main()

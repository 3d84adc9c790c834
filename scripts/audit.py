"""Dependency audit for CI: pip-audit over the pinned requirements; a known vulnerability fails the run.

pip-audit asks PyPI's per-release JSON for each pin. Where that answer is missing (some mirrors serve
only the project-level JSON, whose `vulnerabilities` describe the latest release), a pin that *is* the
latest release is checked from the project-level answer instead. Whatever stays unchecked is printed,
never hidden; an audit that reaches no vulnerability source at all warns and does not fail the tests.
Last line: {"checked", "unchecked", "vulnerable"} as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"


def _pip_audit() -> list[dict]:
    proc = subprocess.run([str(PIP_AUDIT), "-r", str(ROOT / "requirements-dev.txt"), "-f", "json",
                           "--progress-spinner", "off", "--timeout", "20"],
                          capture_output=True, text=True, timeout=300)
    try:
        return json.loads(proc.stdout)["dependencies"]
    except (ValueError, KeyError):
        print(f"audit: pip-audit gave no report ({(proc.stderr or '').strip().splitlines()[-1:]})", file=sys.stderr)
        return []


def _latest_release_vulns(name: str, version: str) -> list[str] | None:
    """IDs of vulnerabilities of `name`=`version` when it is the latest release; None if that cannot be told."""
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=20) as resp:
            data = json.load(resp)
    except (OSError, ValueError):
        return None
    if data.get("info", {}).get("version") != version or "vulnerabilities" not in data:
        return None
    return [v.get("id", "?") for v in data["vulnerabilities"] if not v.get("withdrawn")]


def _installed(name: str) -> str | None:
    # pip-audit leaves out the version of a pin it skipped; the venv it audited has it.
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    deps = _pip_audit()
    checked, unchecked, vulnerable = [], [], {}
    for dep in deps:
        name, version = dep["name"], dep.get("version") or _installed(dep["name"])
        if "skip_reason" not in dep:
            checked.append(name)
            if dep.get("vulns"):
                vulnerable[f"{name}=={version}"] = [v["id"] for v in dep["vulns"]]
            continue
        found = _latest_release_vulns(name, version) if version else None
        if found is None:
            unchecked.append(f"{name}=={version}")
        else:
            checked.append(name)
            if found:
                vulnerable[f"{name}=={version}"] = found
    for pin, ids in vulnerable.items():
        print(f"audit: {pin} has known vulnerabilities: {', '.join(ids)}", file=sys.stderr)
    if unchecked:
        print(f"audit: WARNING {len(unchecked)} pins could not be checked here (no per-release data): "
              f"{' '.join(unchecked)}", file=sys.stderr)
    print(json.dumps({"checked": len(checked), "unchecked": len(unchecked), "vulnerable": vulnerable}))
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())

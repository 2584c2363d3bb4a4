"""`init`: a starter config and rules folder an operator can edit."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config import bundled_rules_pack
from monitor.exceptions import MonitorError

STARTER_CONFIG = """\
# Minerals Monitor configuration. Paths are relative to this file's folder.
# Durations: "90s", "15m", "2h", "1d". ${ENV_VAR} is read from the environment.

[storage]
path = "minerals-monitor.db"

[polling]
interval = "15m"        # default for feeds without their own
concurrency = 32        # fetches in flight at once
per_host = 2            # at most this many at once to one host
contact = "mailto:you@example.org"   # shown in the User-Agent so publishers can reach you

# Without any [[feeds]] the bundled feeds list is used. Add your own:
# [[feeds]]
# url = "https://www.dawn.com/feeds/business"
# name = "Dawn business"
# interval = "10m"

[rules]
files = ["rules/*.yaml"]

[alerts]
default_channels = ["console"]   # used by rules that name no channels
# operator_channel = "ops-email" # told when a delivery fails for good
# max_attempts = 10
# give_up_after = "3d"
# skip_older_than = "48h"        # entries older than this when first seen are stored, not alerted

# [channels.ops-email]
# type = "email"
# host = "smtp.example.org"
# port = 587
# security = "starttls"
# username = "alerts@example.org"
# password = "${SMTP_PASSWORD}"
# sender = "alerts@example.org"
# recipients = ["desk@example.org"]

# [channels.chat]
# type = "webhook"
# url = "https://hooks.example.org/minerals"
# secret = "${WEBHOOK_SECRET}"   # a Standard Webhooks whsec_... secret
# format = "json"                # json | slack | discord | teams
"""

STARTER_RULES = """\
# Your own rules. `minerals-monitor rules check rules/*.yaml` validates them and runs the examples.
aliases:
  my_deal: ["MoU", "memorandum of understanding", "agreement", "offtake", "concession"]

rules:
  - id: my-first-rule
    name: Antimony deals
    description: Any antimony deal or export agreement.
    query: 'antimony AND @my_deal'
    severity: medium
    tests:
      - title: "Pakistan signs antimony offtake agreement"
        text: "The offtake covers 20,000 tonnes of antimony concentrate."
        match: true
      - title: "Antimony-doped electrodes improve battery life"
        text: "A materials study of doped tin oxide."
        match: false
"""


def write_starter(directory: Path, force: bool = False) -> list[Path]:
    """Write minerals-monitor.toml, rules/my-rules.yaml and a copy of the bundled pack."""
    targets = {
        directory / "minerals-monitor.toml": STARTER_CONFIG,
        directory / "rules" / "my-rules.yaml": STARTER_RULES,
        directory / "rules" / "minerals-diplomacy.yaml": bundled_rules_pack().read_text(encoding="utf-8"),
    }
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise MonitorError(f"{existing[0]} already exists; use --force to overwrite")
    written = []
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: configs end up holding SMTP passwords and webhook secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written

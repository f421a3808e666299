#!/usr/bin/env bash
# Installs aiosmtpd (the real SMTP server the email tests talk to) if missing.
# Idempotent: does nothing when `import aiosmtpd` already works.
set -euo pipefail
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
  "$PY" -m pip install --quiet aiosmtpd \
    || "$PY" -m pip install --quiet --break-system-packages aiosmtpd \
    || "$PY" -m pip install --quiet --user aiosmtpd
  "$PY" -c 'import aiosmtpd' # fail loudly if none of the above worked
fi

#!/usr/bin/env bash
# Stop the moto server started by tests/aws/moto.sh (by the pid in its pid file).
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/moto.sh" stop

#!/usr/bin/env bash
# Run seqoia's test suite on a fresh Debian machine: installs what the tests need
# (Python packages; as root, the Debian servers and tools the integration tests start),
# then runs pytest. Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(redis-server rabbitmq-server samtools bcftools tabix bwa minimap2 picard-tools libcommons-lang-java prometheus
  ceph-mon ceph-osd radosgw ceph-common uuid-runtime  # a real S3 server (Ceph RGW)
  poppler-utils fonts-dejavu-core chromium)  # clinical report PDF text/pictures, page width in a browser
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
fi
# The Debian service scripts start servers on install; the tests start their own.
for service in redis-server rabbitmq-server prometheus; do
  (command -v service >/dev/null && service "$service" stop >/dev/null 2>&1) || true
done

# .[test] includes jsonschema and kubernetes-validate (the Kubernetes JSON schemas that
# tests/unit/test_infra.py checks infra/k8s against; KEDA's CRD is vendored in infra/schemas)
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"

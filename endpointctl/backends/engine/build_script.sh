#!/bin/sh
# Runs inside the build container (see images.py): a venv with the user's packages and the scoring host.
# $1 is the Python minor version the conda file asks for, or empty; $2 the host's modules to import as a check. The context folder is a read-only bind
# mount; pip's settings and the CA bundle reach pip through it and are never written into the image.
set -eu
ctx=/run/endpointctl-build/ctx
venv=/opt/endpointctl/venv
wanted=${1:-}
export PIP_CONFIG_FILE="$ctx/pip.conf" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# Base images that ship conda (Azure's own do, under /opt/miniconda) get the interpreter the conda file asks
# for from conda; the packages then go in with pip, as everywhere else (conda-only packages were refused
# before the build). Images without conda need python3 with its venv module.
conda=
for candidate in micromamba mamba conda /opt/conda/bin/mamba /opt/conda/bin/conda /opt/miniconda/bin/conda; do
  if command -v "$candidate" >/dev/null 2>&1; then
    conda=$candidate
    break
  fi
done
if [ -n "$conda" ]; then
  python_spec="python${wanted:+=$wanted}"
  echo "endpointctl: the base image has $conda: creating $venv with $python_spec and pip from its channels"
  if ! "$conda" create -y -q -p "$venv" "$python_spec" pip; then
    echo "endpointctl: '$conda create -p $venv $python_spec pip' failed; its channels must be reachable from the build" >&2
    exit 5
  fi
else
  py=
  if [ -n "$wanted" ] && command -v "python$wanted" >/dev/null 2>&1; then
    py="python$wanted"
  fi
  if [ -z "$py" ]; then
    for candidate in python3 python; do
      if command -v "$candidate" >/dev/null 2>&1; then
        py=$candidate
        break
      fi
    done
  fi
  if [ -z "$py" ]; then
    echo "endpointctl: the base image has neither conda nor python3 on PATH; use an image with one of them" >&2
    exit 3
  fi
  actual=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ -n "$wanted" ] && [ "$wanted" != "$actual" ]; then
    echo "endpointctl: WARNING: the conda file asks for Python $wanted; the base image has $actual, which is used (the packages must support it)"
  fi
  echo "endpointctl: creating $venv with $("$py" --version 2>&1)"
  if ! "$py" -m venv "$venv"; then
    echo "endpointctl: '$py -m venv' failed; the base image needs the venv module (Debian: python3-venv)" >&2
    exit 4
  fi
fi
echo "endpointctl: installing requirements:"
sed 's/^/  /' "$ctx/requirements.txt"
"$venv/bin/python" -m pip install --progress-bar off -r "$ctx/requirements.txt"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$site/endpointctl"
cp -R "$ctx/host/endpointctl" "$site/endpointctl"
"$venv/bin/python" -m compileall -q "$site/endpointctl"
# A host that cannot even be imported must fail the build, not every instance later. $2 lists its modules.
"$venv/bin/python" -c "import $2"
echo "endpointctl: serving host installed in $site/endpointctl"

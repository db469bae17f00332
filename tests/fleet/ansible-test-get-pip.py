# A stand-in for the pip bootstrap script ansible-test downloads (get-pip-VERSION.py from
# a host this machine cannot reach): ansible-test runs it, as its message says it may
# be saved, from ~/.ansible/test/cache/get_pip_VERSION.py, in each sanity test's new
# virtual environment, with pip's install arguments (pip==VERSION and the pinned
# infrastructure packages). It installs Python's bundled pip with ensurepip, then those
# exact packages from PyPI with it. scripts/test --install puts it in place.
import ensurepip
import subprocess
import sys

ensurepip.bootstrap()
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))

# Debian 12 packages the project needs, and a function that installs the missing ones.
# Sourced by tools/test, tools/demo, tools/bench and tools/install.

XRG_BUILD_PACKAGES=(
  cmake ninja-build g++ pkg-config
  apache2-dev libapr1-dev libaprutil1-dev libxml2-dev libipset-dev libcap-dev libhiredis-dev
)
XRG_TEST_PACKAGES=(
  clang libclang-rt-14-dev libboost-test-dev
  apache2 libapache2-mod-php libapache2-mod-fcgid php-fpm php-cli php-cgi php-mysql php-xml
  mariadb-server wordpress
  ipset iptables iproute2 procps curl python3 python3-h2 redis-server redis-tools
  build-essential debhelper dpkg-dev fakeroot lintian
)

# xrg_install_packages PKG... : apt-get installs whichever are not installed yet.
# Services the packages would start (apache2, mariadb, php-fpm) are held back:
# the tests start their own instances inside their own namespaces.
xrg_install_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages (run as root to install them): ${missing[*]}" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  local held_back=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    held_back=yes
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"; } || rc=$?
  [ -n "$held_back" ] && rm -f /usr/sbin/policy-rc.d
  return $rc
}

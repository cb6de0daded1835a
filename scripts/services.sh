# Helpers sourced by scripts/run and scripts/test: start PostgreSQL / Redis when they are not running.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  if ! command -v apt-get >/dev/null; then echo "Please install: $*" >&2; return 1; fi
  [ -n "${_APT_UPDATED:-}" ] || { as_root apt-get update -qq; _APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  command -v redis-server >/dev/null || apt_install redis-server
  echo "Starting Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/enllasd-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "Redis did not start" >&2; return 1
}

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "Starting PostgreSQL $version on 127.0.0.1:5432"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 0.2; done
  echo "PostgreSQL did not start" >&2; return 1
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  echo "Installing Debian's chromium for the browser tests"
  apt_install chromium
}

ensure_slapd() {
  # A real OpenLDAP server for the hospital-login tests; each test run starts its own on 127.0.0.1.
  [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null && return 0
  echo "Installing Debian's slapd and ldap-utils for the LDAP login tests"
  apt_install slapd ldap-utils
  # The package may start a system-wide slapd; the tests need none.
  as_root service slapd stop >/dev/null 2>&1 || true
}

ensure_postgres_login() {
  # Trust auth (these machines) ignores the password; a stock Debian cluster needs it set once.
  PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 && return 0
  echo "Setting the local postgres user's password for the test database"
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}

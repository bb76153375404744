# Sourced by scripts/ui and scripts/ui-test after scripts/lib/venv.sh (which cd's to the repo root):
# installs ui/'s node modules, finds Chromium for the browser tests, and builds ui/dist.
# Each step does nothing when its result is already up to date.

# npm ci (exactly what ui/package-lock.json says, which it never rewrites) when ui/node_modules is
# missing or older than ui/package.json / ui/package-lock.json (npm's own record of an install,
# node_modules/.package-lock.json, tells). The lockfile holds every platform's optional packages
# (rollup's, esbuild's), as npm 11 writes it, so `npm ci` accepts it on any platform. To change a
# dependency, edit package.json and run `npm install` by hand, then commit both files.
ensure_node_modules() {
  command -v npm >/dev/null 2>&1 || { echo "error: ui/ needs Node.js 20+ and npm on PATH" >&2; return 1; }
  local record=ui/node_modules/.package-lock.json
  if [ -f "$record" ] && [ "$record" -nt ui/package.json ] &&
      { [ ! -f ui/package-lock.json ] || [ "$record" -nt ui/package-lock.json ]; }; then
    return 0
  fi
  echo "installing ui/ node modules" >&2
  (cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
}

# Debian's Chromium at /usr/bin/chromium (or $CHROMIUM_PATH); installed with apt-get when we are
# root. Playwright's own browser download is never used.
ensure_chromium() {
  local chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
  [ -x "$chromium" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  fi
  [ -x "$chromium" ] && return 0
  echo "error: the browser tests need Chromium at $chromium (apt-get install chromium, or set CHROMIUM_PATH)" >&2
  return 1
}

# npm run build when ui/dist is missing or older than anything it is built from.
ensure_ui_build() {
  if [ -f ui/dist/index.html ] && [ -z "$(find ui/src ui/index.html ui/public ui/package.json \
      ui/vite.config.ts ui/tsconfig.json -newer ui/dist/index.html -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  echo "building ui/dist" >&2
  (cd ui && npm run --silent build >&2)
}

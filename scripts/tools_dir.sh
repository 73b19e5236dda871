# Sourced by the install_*.sh scripts: the cache of development tools (helm, promtool) that make test needs. It is
# shared by every clone and every run on this machine, so a tool is built or extracted once, not per clone.
# internal/devtools computes the same directory for the tests that run the tools.
WALLET_TOOLS_DIR="${WALLET_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wallet-ledger/tools}"
export WALLET_TOOLS_DIR
mkdir -p "${WALLET_TOOLS_DIR}/bin"

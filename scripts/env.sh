# Sourced by the scripts: tool paths (npm's wasm-opt 132 must shadow Debian's binaryen 108).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/e2e/node_modules/.bin:$HOME/.cargo/bin:$PATH"

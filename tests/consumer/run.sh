#!/usr/bin/env bash
# Installs a built optimist into a private prefix, then configures, builds and runs the consumer
# project in this folder against it with find_package(optimist CONFIG REQUIRED).
#
# Registered by the top-level CMakeLists.txt as the ctest test `consumer_find_package`; all
# arguments come from there:
#   run.sh --build-dir DIR --prefix DIR --source DIR --consumer-build DIR
#          [--config CFG] [--generator NAME] [--cxx-compiler PATH] [--flags "FLAGS"]
set -euo pipefail

build_dir="" prefix="" source_dir="" consumer_build="" config="" generator="" cxx_compiler=""
flags=""
while (($#)); do
  case "$1" in
    --build-dir) build_dir="$2" ;;
    --prefix) prefix="$2" ;;
    --source) source_dir="$2" ;;
    --consumer-build) consumer_build="$2" ;;
    --config) config="$2" ;;
    --generator) generator="$2" ;;
    --cxx-compiler) cxx_compiler="$2" ;;
    --flags) flags="$2" ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
for required in build_dir prefix source_dir consumer_build; do
  if [[ -z "${!required}" ]]; then
    echo "run.sh: --${required//_/-} is required" >&2
    exit 2
  fi
done

config_args=()
if [[ -n "$config" ]]; then
  config_args=(--config "$config")
fi

# Start from empty folders so that no header or config file of an earlier run can hide a
# missing install rule.
rm -rf -- "$prefix" "$consumer_build"

echo "== install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" "${config_args[@]}"

configure_args=(-S "$source_dir" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix")
[[ -n "$generator" ]] && configure_args+=(-G "$generator")
[[ -n "$cxx_compiler" ]] && configure_args+=(-DCMAKE_CXX_COMPILER="$cxx_compiler")
[[ -n "$config" ]] && configure_args+=(-DCMAKE_BUILD_TYPE="$config")
if [[ -n "$flags" ]]; then
  # The library was built with sanitizers: the consumer must compile and link with them too.
  configure_args+=(-DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags")
fi

echo "== configure consumer"
cmake "${configure_args[@]}"
echo "== build consumer"
cmake --build "$consumer_build" "${config_args[@]}"

binary="$(find "$consumer_build" -type f -name optimist_consumer -perm -u+x | head -n 1)"
if [[ -z "$binary" ]]; then
  echo "run.sh: optimist_consumer was not built" >&2
  exit 1
fi
echo "== run $binary"
"$binary"
echo "== consumer_find_package: ok"

#!/usr/bin/env bash
# scripts/fuzz_image.sh [RUNS|SECONDSs] - scripts/fuzz.sh image: corrupt
# images through the mount path (test/fuzz/image_mount_fuzz.cc).
exec "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" image "$@"

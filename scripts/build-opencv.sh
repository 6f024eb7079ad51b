#!/usr/bin/env bash
# Build the OpenCV the bundle ships, and print the folder that holds its cv2 package.
#
#   scripts/build-opencv.sh            (build.spec runs it)
#
# The same release as the venv's opencv-python-headless, built from that release's source
# distribution on PyPI (checked against the index's sha256) with only what the app uses
# (docs/architecture.md, "The bundle"):
#   core, imgproc             resize, colour conversion, drawing the preview's play button
#   imgcodecs (JPEG only)     the preview's JPEG
#   videoio (cameras only)    V4L2 on Linux, Media Foundation and DirectShow on Windows,
#                             AVFoundation on macOS
# and none of: FFmpeg (PyAV's is the app's one FFmpeg: two in one process are a known
# source of crashes), LAPACK/OpenBLAS, OpenCL, the other codecs and modules. The wheel's
# cv2 is 119 MB with its libraries on Linux; this one is 16 MB. The result is cached
# by release and recipe (VMSG_OPENCV_CACHE, default ~/.cache/video-messaging/opencv), so
# only the first build compiles (about 6 minutes on 2 cores).
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
py=${VMSG_PYTHON:-.venv/bin/python}
[ -x "$py" ] || { echo "build-opencv: run ./dev.sh test once first (it builds .venv)" >&2; exit 2; }
for tool in cmake c++; do
    command -v "$tool" >/dev/null || { echo "build-opencv: needs $tool (sudo apt-get install cmake g++ ninja-build)" >&2; exit 2; }
done

version=$("$py" -c 'from importlib.metadata import version; print(version("opencv-python-headless"))')
flags=(
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_LIST=core,imgproc,imgcodecs,videoio,python3
    -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF
    -DBUILD_DOCS=OFF -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python2=OFF
    -DOPENCV_GENERATE_PKGCONFIG=OFF -DINSTALL_C_EXAMPLES=OFF -DINSTALL_PYTHON_EXAMPLES=OFF
    # No FFmpeg or GStreamer: files go through PyAV; cameras through the OS's own API.
    -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=ON -DWITH_MSMF=ON -DWITH_DSHOW=ON
    -DVIDEOIO_ENABLE_PLUGINS=OFF -DWITH_AVFOUNDATION=ON -DWITH_1394=OFF -DWITH_OBSENSOR=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF
    # No linear algebra, GPU or threading libraries (pthreads / the OS's own serve).
    -DWITH_LAPACK=OFF -DWITH_EIGEN=OFF -DWITH_IPP=OFF -DWITH_OPENCL=OFF -DWITH_ITT=OFF
    -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_PROTOBUF=OFF -DWITH_GTK=OFF -DWITH_QT=OFF
    -DWITH_WIN32UI=OFF -DWITH_CUDA=OFF -DWITH_ADE=OFF
    # JPEG only, from OpenCV's own libjpeg-turbo without its assembly (no nasm needed: the
    # preview JPEG is small); zlib built in too (no system library).
    -DWITH_JPEG=ON -DBUILD_JPEG=ON -DENABLE_LIBJPEG_TURBO_SIMD=OFF -DBUILD_ZLIB=ON -DWITH_PNG=OFF -DWITH_TIFF=OFF
    -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF -DWITH_OPENEXR=OFF -DWITH_AVIF=OFF
    -DWITH_IMGCODEC_GIF=OFF -DWITH_SPNG=OFF -DWITH_JPEGXL=OFF
)
# macOS: the same oldest system the app's Info.plist names (build.spec).
[ "$(uname)" = Darwin ] && flags+=(-DCMAKE_OSX_DEPLOYMENT_TARGET=12.0)
case "$(uname -m)" in
    # x86-64: the wheel's SIMD dispatch without the AVX-512 variants (a fifth less build
    # time; the app's pixel work is one preview frame at a time).
    x86_64|AMD64) flags+=(-DCPU_DISPATCH=SSE4_1,SSE4_2,AVX,FP16,AVX2) ;;
esac
# The cache key: the release, the recipe (this script), Python's and NumPy's major versions
# (the bindings are built against both).
key=$( { printf '%s\n' "$version" "${flags[@]}"; cat "$self"; } | "$py" -c \
      'import hashlib, sys, numpy; v = "%d.%d|%s" % (*sys.version_info[:2], numpy.__version__.split(".")[0]); print(hashlib.sha256((sys.stdin.read() + v).encode()).hexdigest()[:12])')
cache=${VMSG_OPENCV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/video-messaging/opencv}
out="$cache/$version-$key"
if [ -f "$out/ok" ]; then
    echo "$out/python"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/work-$version-$key.XXXXXX")  # two builds at once never share it
trap 'rm -rf "$work"' EXIT
sdist="opencv_python_headless-$version.tar.gz"
echo "build-opencv: fetching $sdist from PyPI" >&2
index=${VMSG_PYPI_SIMPLE:-https://pypi.org/simple}
"$py" - "$index" "$sdist" "$work/$sdist" <<'EOF'
"""Download one file of opencv-python-headless from the index (PEP 691) and check its
sha256 against the index's."""
import hashlib
import json
import sys
import urllib.parse
import urllib.request

index, name, dest = sys.argv[1:]
req = urllib.request.Request(
    f"{index.rstrip('/')}/opencv-python-headless/",
    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
)
with urllib.request.urlopen(req, timeout=60) as resp:
    files = json.load(resp)["files"]
    page = resp.geturl()
entry = next((f for f in files if f["filename"] == name), None)
if entry is None:
    sys.exit(f"build-opencv: {name} is not on {index}")
digest = hashlib.sha256()
url = urllib.parse.urljoin(page, entry["url"])  # a mirror may give it relative to the page
with urllib.request.urlopen(url, timeout=600) as resp, open(dest, "wb") as out:
    while chunk := resp.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
if digest.hexdigest() != entry["hashes"]["sha256"]:
    sys.exit(f"build-opencv: {name} does not match the index's sha256")
EOF
tar -C "$work" -xzf "$work/$sdist"
src="$work/opencv_python_headless-$version/opencv"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "build-opencv: building OpenCV $version (core, imgproc, imgcodecs, videoio) in $work" >&2
cmake -S "$src" -B "$work/build" ${generator[@]+"${generator[@]}"} "${flags[@]}" \
    -DCMAKE_INSTALL_PREFIX="$work/install" \
    -DPYTHON3_EXECUTABLE="$("$py" -c 'import sys; print(sys.executable)')" \
    -DOPENCV_PYTHON3_INSTALL_PATH="$work/install/python" >"$work/cmake.log" 2>&1 \
    || { tail -30 "$work/cmake.log" >&2; exit 1; }
# Without Python's headers or NumPy, OpenCV quietly leaves its Python module out.
grep -q '^BUILD_opencv_python3:BOOL=ON' "$work/build/CMakeCache.txt" \
    && grep -q 'To be built:.*python3' "$work/cmake.log" \
    || { echo "build-opencv: OpenCV will not build its Python module here: install python3-dev (and NumPy in the venv)" >&2; exit 1; }
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
cmake --build "$work/build" --parallel "$jobs" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log" >&2; exit 1; }
cmake --install "$work/build" >>"$work/build.log" 2>&1
mkdir -p "$work/out"
mv "$work/install/python" "$work/out/python"
# The loader's configs name the install folder; point them at the package's own folder
# (LOADER_DIR, which cv2/__init__.py and PyInstaller's cv2 hook define), so it can move.
# The library is static: no folder of binaries to add.
"$py" - "$work/out/python/cv2" <<'EOF'
import sys
from pathlib import Path

cv2 = Path(sys.argv[1])
(cv2 / "config.py").write_text("BINARIES_PATHS = [] + BINARIES_PATHS\n")
for config in cv2.glob("config-3*.py"):
    sub = next(p.name for p in cv2.glob("python-3*") if p.is_dir())
    config.write_text(
        "PYTHON_EXTENSIONS_PATHS = [\n"
        f"    os.path.join(LOADER_DIR, {sub!r})\n"
        "] + PYTHON_EXTENSIONS_PATHS\n"
    )
EOF
# The package must load, and say it has no FFmpeg and a camera backend.
PYTHONPATH="$work/out/python" "$py" - <<'EOF'
import sys

import cv2

registry = cv2.videoio_registry
readers = [n for n in ("FFMPEG", "GSTREAMER") if registry.hasBackend(getattr(cv2, f"CAP_{n}"))]
if readers:
    sys.exit(f"build-opencv: this OpenCV reads files itself ({readers}); it must not")
cameras = [n for n in ("V4L2", "MSMF", "DSHOW", "AVFOUNDATION")
           if registry.isBackendBuiltIn(getattr(cv2, f"CAP_{n}"))]
if not cameras:
    sys.exit("build-opencv: this OpenCV has no camera backend")
print(f"build-opencv: cv2 {cv2.__version__} at {cv2.__file__}; cameras {cameras}", file=sys.stderr)
EOF
touch "$work/out/ok"
rm -rf "$out"
mv "$work/out" "$out" 2>/dev/null || [ -f "$out/ok" ]  # another build may have won: same result
echo "$out/python"

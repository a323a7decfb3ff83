# Debian package: `make package` (cpack -G DEB in a Release build configured
# with CMAKE_INSTALL_PREFIX=/usr so GNUInstallDirs picks the multiarch libdir).
#
# One package, libasyncio-dev, holding everything the install rules install:
# the library, the headers, the CMake package and asyncio.pc. The default
# build is a static library, which has no run-time part: a program linked
# against it needs nothing from us at run time, so a separate runtime package
# (libasyncio0.1) would be empty. That is Debian's own shape for static-only
# libraries (e.g. libgtest-dev).
#
# Depends: the static library's TLS code needs libssl.so/libcrypto.so (and the
# OpenSSL CMake/pkg-config metadata find_dependency(OpenSSL) and
# `Requires: openssl` look up) at the consumer's link: that is libssl-dev; its
# io_uring backend needs liburing.so (and liburing.pc): liburing-dev.
# With -DBUILD_SHARED_LIBS=ON the package holds libasyncio.so.0.1 too and its
# run-time Depends (libc6, libstdc++6, libssl3) come from dpkg-shlibdeps;
# OpenSSL and liburing are then private to the .so, so their -dev packages are not needed.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "libasyncio-dev")
set(CPACK_PACKAGE_VENDOR "asyncio for C++")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "asyncio for C++ maintainers <maintainers@users.noreply.h-seed-91beae28.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # libasyncio-dev_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The synopsis line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the body.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "\
Python 3.12's asyncio (event loop, coroutines, tasks, futures, cancellation,
gather/wait/wait_for/timeout/shield/TaskGroup, locks, queues, streams,
subprocesses, TLS) in C++20. This package holds the library, the headers,
the CMake package (find_package(asyncio)) and the pkg-config file (asyncio).")
get_target_property(_asyncio_pkg_type asyncio TYPE)
if(_asyncio_pkg_type STREQUAL "STATIC_LIBRARY")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libssl-dev, liburing-dev")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()

# `make package_source` is not supported; keep build trees out of it anyway.
set(CPACK_SOURCE_IGNORE_FILES "/build/" "/\\\\.git/")

include(CPack)

# Install rules and the files a consumer finds the library with:
#   <libdir>/libasyncio.a (or .so.<ver>), <includedir>/asyncio/*.hpp,
#   <libdir>/cmake/asyncio/asyncio{Config,ConfigVersion,Targets*}.cmake,
#   <libdir>/pkgconfig/asyncio.pc
# All destinations are relative (GNUInstallDirs), so the same build serves
# `cmake --install --prefix <dir>` and CPack's /usr: the CMake files find the
# prefix from their own position, asyncio.pc gets it written at install time.
include(CMakePackageConfigHelpers)

# ---- Versioning -------------------------------------------------------------
# While the version is 0.x, every minor release may break the API and the ABI
# (semantic versioning's rule for 0.y.z). So find_package(asyncio 0.1) accepts
# 0.1.z but not 0.2 (SameMinorVersion; SameMajorVersion would accept 0.2), and
# the SONAME carries major.minor (libasyncio.so.0.1). From 1.0 on: major only.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_asyncio_compat SameMinorVersion)
  set(_asyncio_soversion "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}")
else()
  set(_asyncio_compat SameMajorVersion)
  set(_asyncio_soversion "${PROJECT_VERSION_MAJOR}")
endif()

# ---- Shared library: SONAME and symbol visibility ----------------------------
# Visibility stays the compiler default (every non-static symbol exported), on
# purpose. The public API is mostly templates and inline functions (Coro<T>,
# Task, gather, wait_for, ...) instantiated in the consumer's code, and that
# code calls straight into library internals (the running loop, the frame
# pool, detail:: helpers of futures/tasks/streams). Hidden visibility would
# need an export macro on each of those and would break consumers whenever one
# is missed; and -fvisibility-inlines-hidden could give an inline function's
# static/thread_local state one copy in the .so and another in the program.
# Since 0.x promises no ABI stability across minors anyway (SONAME above), the
# exported set is "everything"; revisit for 1.0.
set_target_properties(asyncio PROPERTIES
  VERSION "${PROJECT_VERSION}"
  SOVERSION "${_asyncio_soversion}"
  EXPORT_NAME asyncio)

# ---- Library, headers, exported target ---------------------------------------
install(TARGETS asyncio
  EXPORT asyncioTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/asyncio"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.hpp")
# The gdb extension (asyncio ps / asyncio bt, docs/debugging.md):
#   (gdb) source <prefix>/share/asyncio/gdb/asyncio.py
install(FILES "${PROJECT_SOURCE_DIR}/tools/gdb/asyncio.py"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/asyncio/gdb")

set(ASYNCIO_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/asyncio"
  CACHE STRING "Where asyncioConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(ASYNCIO_INSTALL_CMAKEDIR)

install(EXPORT asyncioTargets
  NAMESPACE asyncio::
  DESTINATION "${ASYNCIO_INSTALL_CMAKEDIR}")

# ---- asyncioConfig.cmake / asyncioConfigVersion.cmake ------------------------
# A static libasyncio carries OpenSSL to the consumer's link, so the config
# must find it; a shared one keeps it private (no libssl-dev needed).
get_target_property(_asyncio_type asyncio TYPE)
if(_asyncio_type STREQUAL "STATIC_LIBRARY")
  set(ASYNCIO_CONFIG_NEEDS_OPENSSL TRUE)
else()
  set(ASYNCIO_CONFIG_NEEDS_OPENSSL FALSE)
endif()
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/asyncioConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/asyncioConfig.cmake"
  INSTALL_DESTINATION "${ASYNCIO_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/asyncioConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY ${_asyncio_compat})
install(FILES
  "${PROJECT_BINARY_DIR}/asyncioConfig.cmake"
  "${PROJECT_BINARY_DIR}/asyncioConfigVersion.cmake"
  DESTINATION "${ASYNCIO_INSTALL_CMAKEDIR}")

# ---- asyncio.pc ---------------------------------------------------------------
# Static build: the library's dependencies must be on every consumer's link
# line, and `pkg-config --libs` (without --static) ignores the .private fields,
# so they are public (Requires: openssl, Libs: -pthread). Shared build: the .so
# records its own NEEDED entries and no public header includes an OpenSSL
# header, so openssl is not mentioned at all (pkg-config would otherwise demand
# openssl.pc, i.e. libssl-dev, even for --cflags).
# -std=c++20 is left to the consumer (it may want c++23); -pthread is in
# Cflags as CMake's Threads::Threads puts it on the compile line too.
set(ASYNCIO_PC_LIBS "-L\${libdir} -lasyncio -pthread")
if(_asyncio_type STREQUAL "STATIC_LIBRARY")
  set(ASYNCIO_PC_REQUIRES "Requires: openssl liburing")
else()
  set(ASYNCIO_PC_REQUIRES "")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(ASYNCIO_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(ASYNCIO_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# The prefix is written when installing, not when configuring: one build serves
# `cmake --install --prefix <dir>` and CPack's /usr, and the file holds the
# plain path (prefix=/usr). A ${pcfiledir}-relative prefix would be relocatable
# but would turn /usr/include into -I/usr/lib/<arch>/pkgconfig/../../../include,
# which pkg-config no longer recognises as a system directory to drop, and an
# explicit -I of a system directory breaks libstdc++'s #include_next.
set(ASYNCIO_PC_PREFIX "@ASYNCIO_PC_INSTALL_PREFIX@")  # kept literally by @ONLY
configure_file("${CMAKE_CURRENT_LIST_DIR}/asyncio.pc.in"
  "${PROJECT_BINARY_DIR}/asyncio.pc.stage" @ONLY)
install(CODE "
  set(ASYNCIO_PC_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/asyncio.pc.stage\"
                 \"${PROJECT_BINARY_DIR}/asyncio.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/asyncio.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

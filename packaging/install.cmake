# The install steps that need the install-time prefix or DESTDIR, run by
# `cmake --install` and by cpack's staging install (CMakeLists.txt sets
# TASKER_PACKAGING_DIR, TASKER_STAGING_DIR, TASKER_BINDIR and TASKER_DOCDIR
# first):
# - the systemd units, into PREFIX/lib/systemd/system (which systemd reads
#   for /usr and /usr/local), with ExecStart naming the binary where this
#   install puts it: /usr/bin/tasker in the Debian package, /usr/local/bin/
#   tasker for a plain `cmake --install build`;
# - the commented config files, into /etc/tasker whatever the prefix (the
#   units read them there), but never over a file that is there already: a
#   second `cmake --install` keeps the administrator's settings. (The
#   Debian package stages into an empty folder, and dpkg handles conffiles.)

foreach(var BINDIR DOCDIR)
  if(IS_ABSOLUTE "${TASKER_${var}}")
    set(${var} "${TASKER_${var}}")
  else()
    set(${var} "${CMAKE_INSTALL_PREFIX}/${TASKER_${var}}")
  endif()
endforeach()
set(TASKER_BIN "${BINDIR}/tasker")
set(TASKER_DOC "${DOCDIR}")
foreach(unit tasker.service tasker-worker@.service)
  configure_file("${TASKER_PACKAGING_DIR}/${unit}.in"
                 "${TASKER_STAGING_DIR}/${unit}" @ONLY)
  file(INSTALL "${TASKER_STAGING_DIR}/${unit}"
       DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()

foreach(conf tasker.conf worker.conf)
  if(EXISTS "$ENV{DESTDIR}/etc/tasker/${conf}")
    message(STATUS "Kept: $ENV{DESTDIR}/etc/tasker/${conf} (it exists; "
                   "`tasker sample-config` writes the sample)")
    continue()
  endif()
  # Read by root and the group (tasker): it may hold secrets.
  file(INSTALL "${TASKER_PACKAGING_DIR}/${conf}" DESTINATION /etc/tasker
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endforeach()

# Install rules for presence-sync: `cmake --install BUILD [--prefix P]`.
# Included from the top-level CMakeLists.txt (include(cmake/install.cmake)).
#
#   P/bin/presence-sync
#   P/lib/systemd/system/presence-sync.service   ExecStart= points at P/bin
#   P/share/presence-sync/schemas/*.json
#   P/share/doc/presence-sync/                   docs and examples/config.example.json
#
# Nothing is written to /etc: the operator copies the example config to
# /etc/presence-sync/config.json (docs/operations.md).
include(GNUInstallDirs)

# The binary itself: install(TARGETS presence-sync ...) in connector/CMakeLists.txt.

install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/presence-sync/schemas
        FILES_MATCHING PATTERN "*.json")

install(FILES ${PROJECT_SOURCE_DIR}/docs/examples/config.example.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
foreach(doc operations.md security.md configuration.md mqtt.md)
    if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc})
        install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
    endif()
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/broker-config/mosquitto.conf
              ${PROJECT_SOURCE_DIR}/broker-config/acl
              ${PROJECT_SOURCE_DIR}/broker-config/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/broker-config)

# The unit names the binary by absolute path: rewrite it for the prefix chosen
# at install time (`--prefix` overrides CMAKE_INSTALL_PREFIX here).
set(PS_UNIT_SRC ${PROJECT_SOURCE_DIR}/scripts/presence-sync.service)
string(CONFIGURE [[
    set(unit_dir "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    file(READ "@PS_UNIT_SRC@" unit)
    string(REPLACE "ExecStart=/usr/bin/presence-sync"
                   "ExecStart=${CMAKE_INSTALL_PREFIX}/@CMAKE_INSTALL_BINDIR@/presence-sync" unit "${unit}")
    file(MAKE_DIRECTORY "${unit_dir}")
    file(WRITE "${unit_dir}/presence-sync.service" "${unit}")
    message(STATUS "Installing: ${unit_dir}/presence-sync.service")
]] ps_install_unit @ONLY)
install(CODE "${ps_install_unit}")

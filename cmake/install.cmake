# cmake/install.cmake - "cmake --install" for the drop-in kit (issue 5).
#
# The daemons and their own man pages are installed by policyd/ and
# saslauthd-ldap/. This file adds, with GNUInstallDirs paths:
#   - libportreeve.so into libsasl2's plugin directory
#     (PORTREEVE_SASL_PLUGIN_DIR, default /usr/lib/<multiarch>/sasl2, the
#     directory Debian's libsasl2 searches; no SASL_PATH needed then);
#   - portreeve-setup (sbin), with the path of the installed fragments,
#     and its man page;
#   - the Postfix fragments, sasl/smtpd.conf and the sample portreeve.conf
#     under <datadir>/portreeve/postfix-conf/;
#   - <sysconfdir>/portreeve/portreeve.conf (/etc with prefix /usr) from
#     the sample, only when there is none: an existing one is never
#     overwritten;
#   - the systemd units and the tmpfiles.d snippet (contrib/systemd/),
#     unless PORTREEVE_INSTALL_SYSTEMD is OFF.
# Absolute destinations honour DESTDIR (the Debian build uses it).

set(_pr_multiarch "${CMAKE_LIBRARY_ARCHITECTURE}")
if(NOT _pr_multiarch)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
        OUTPUT_VARIABLE _pr_multiarch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(_pr_multiarch)
    set(_pr_sasl_default /usr/lib/${_pr_multiarch}/sasl2)
else()
    set(_pr_sasl_default /usr/lib/sasl2)
endif()
set(PORTREEVE_SASL_PLUGIN_DIR "${_pr_sasl_default}" CACHE PATH
    "libsasl2's plugin directory, where libportreeve.so goes")

option(PORTREEVE_INSTALL_SYSTEMD "Install the systemd units and tmpfiles.d snippet" ON)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    # Debian 12: units in /lib/systemd/system, tmpfiles in /usr/lib/tmpfiles.d
    pkg_get_variable(_pr_unitdir systemd systemdsystemunitdir)
    pkg_get_variable(_pr_tmpfilesdir systemd tmpfilesdir)
endif()
if(NOT _pr_unitdir)
    set(_pr_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
if(NOT _pr_tmpfilesdir)
    set(_pr_tmpfilesdir ${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d)
endif()
set(PORTREEVE_SYSTEMD_UNIT_DIR "${_pr_unitdir}" CACHE PATH "systemd system unit directory")
set(PORTREEVE_TMPFILES_DIR "${_pr_tmpfilesdir}" CACHE PATH "tmpfiles.d directory")

set(PORTREEVE_FRAGMENTS_DIR ${CMAKE_INSTALL_FULL_DATADIR}/portreeve/postfix-conf)
set(PORTREEVE_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(PORTREEVE_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/portreeve)

# The SASL plugin (target defined in saslauthd-ldap/).
if(TARGET portreeve)
    install(TARGETS portreeve LIBRARY DESTINATION ${PORTREEVE_SASL_PLUGIN_DIR}
        COMPONENT sasl-plugin)
endif()

# The setup command knows where the fragments are installed.
configure_file(${PROJECT_SOURCE_DIR}/contrib/portreeve-setup
    ${CMAKE_CURRENT_BINARY_DIR}/contrib/portreeve-setup @ONLY)
install(PROGRAMS ${CMAKE_CURRENT_BINARY_DIR}/contrib/portreeve-setup
    DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/contrib/portreeve-setup.8
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

install(FILES
    ${PROJECT_SOURCE_DIR}/postfix-conf/README
    ${PROJECT_SOURCE_DIR}/postfix-conf/main.cf.fragment
    ${PROJECT_SOURCE_DIR}/postfix-conf/master.cf.fragment
    ${PROJECT_SOURCE_DIR}/postfix-conf/portreeve.conf
    DESTINATION ${CMAKE_INSTALL_DATADIR}/portreeve/postfix-conf)
install(FILES ${PROJECT_SOURCE_DIR}/postfix-conf/sasl/smtpd.conf
    DESTINATION ${CMAKE_INSTALL_DATADIR}/portreeve/postfix-conf/sasl)

# The sample configuration, never over an existing one.
# (file(INSTALL) puts DESTDIR in front by itself; the test needs it.)
install(CODE "
    set(_dir \"${PORTREEVE_SYSCONFDIR}\")
    if(EXISTS \"\$ENV{DESTDIR}\${_dir}/portreeve.conf\")
        message(STATUS \"Kept: \$ENV{DESTDIR}\${_dir}/portreeve.conf (the sample is in ${PORTREEVE_FRAGMENTS_DIR})\")
    else()
        file(INSTALL \"${PROJECT_SOURCE_DIR}/postfix-conf/portreeve.conf\"
            DESTINATION \"\${_dir}\"
            FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()
")

if(PORTREEVE_INSTALL_SYSTEMD)
    foreach(_unit portreeve-policyd.service portreeve-authd.service)
        configure_file(${PROJECT_SOURCE_DIR}/contrib/systemd/${_unit}.in
            ${CMAKE_CURRENT_BINARY_DIR}/contrib/systemd/${_unit} @ONLY)
        install(FILES ${CMAKE_CURRENT_BINARY_DIR}/contrib/systemd/${_unit}
            DESTINATION ${PORTREEVE_SYSTEMD_UNIT_DIR})
    endforeach()
    install(FILES ${PROJECT_SOURCE_DIR}/contrib/systemd/portreeve.tmpfiles
        DESTINATION ${PORTREEVE_TMPFILES_DIR} RENAME portreeve.conf)
endif()

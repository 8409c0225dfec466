# Voice side runtime: REST client, RTE link (libwebsockets client), per-tenant
# session and call tracking, talking writer, and the daemon component.
ps_module(ps_voice_side
    SOURCES voice_side.c tenant.c tenant_health.c tenant_users.c tenant_hub.c tenant_events.c rest.c rte.c writer.c
    LIBS ps_voice ps_core PkgConfig::LWS Threads::Threads)
target_include_directories(ps_voice_side PUBLIC ${PROJECT_SOURCE_DIR}/connector)

# Test program that drives the writer against fake-voice
# (tests/integration/test_voice_writer.sh).
if(EXISTS ${PROJECT_SOURCE_DIR}/tests/tools/voice_writer_probe.c)
    add_executable(voice_writer_probe ${PROJECT_SOURCE_DIR}/tests/tools/voice_writer_probe.c)
    target_link_libraries(voice_writer_probe PRIVATE ps_voice_side)
endif()


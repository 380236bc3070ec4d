# Tests of the operator scripts in ops/, run with the real binary. Included from
# tests/integration/CMakeLists.txt.
include_guard(GLOBAL)

# ops/demo-federation.sh: three nodes, --replicas 2, a raid and rebuild, a verified court bundle.
add_test(NAME demo_federation COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/demo_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(demo_federation PROPERTIES LABELS integration TIMEOUT 180 RUN_SERIAL TRUE)

# key export / init --keys: the identity sealed under a passphrase.
khronika_integration_test(keys_test)
target_link_libraries(keys_test PRIVATE nlohmann_json::nlohmann_json)

# recovery keygen / member add --recovery-pubkey: the offline recovery key (format 2 recovery).
khronika_integration_test(recovery_test)
target_link_libraries(recovery_test PRIVATE nlohmann_json::nlohmann_json)

# The Debian package (CPack) and the hardened systemd unit, without installing anything here.
add_test(NAME debian_package COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package_test.sh ${PROJECT_BINARY_DIR})
set_tests_properties(debian_package PROPERTIES LABELS integration TIMEOUT 300)

# README's first command (ops/quickstart.sh --check), twice: a node that answers /healthz.
add_test(NAME quickstart COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/quickstart_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(quickstart PROPERTIES LABELS integration TIMEOUT 120)

# khronika scrub: damage found, repaired from a peer, or reported (exit code, status, /metrics).
khronika_server_test(scrub_repair_test)

# README.md's "A first session", run as written in a fresh home folder.
add_test(NAME readme_first_session COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/readme_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(readme_first_session PROPERTIES LABELS integration TIMEOUT 120)

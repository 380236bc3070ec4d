# The HTTP API and schemas/json/*.schema.json agree: a real server on 127.0.0.1, every endpoint,
# every JSON body validated (python3 + python3-jsonschema + openssl). Included from
# tests/integration/CMakeLists.txt.
add_test(NAME api_schema COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/api_schema_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(api_schema PROPERTIES LABELS integration TIMEOUT 300)

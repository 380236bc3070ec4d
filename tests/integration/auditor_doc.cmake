# docs/auditor.md: every command block of the auditor's guide (trust anchors, an auditor's node
# as a serve-only peer, curl with the certificate pinned, docs/tools/log_root.py and
# check_consistency.py, the git mirror with --trust, a court bundle), taken from the document and
# run against two real nodes; then the same tools on tampered data and HTTP errors. Include from
# tests/integration/CMakeLists.txt.
include_guard(GLOBAL)
add_test(NAME auditor_doc COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/auditor_doc.sh $<TARGET_FILE:khronika>)
set_tests_properties(auditor_doc PROPERTIES LABELS integration TIMEOUT 180)

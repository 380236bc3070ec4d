# docs/lawyer.md, part 2: the by-hand check of a court bundle (sha256sum, openssl, xxd, python3),
# shipped as docs/tools/check_bundle.sh and printed in full by the document: the two compared,
# and the script run on a real two-node bundle, on tampered copies and with wrong trusted keys.
# Include from tests/integration/CMakeLists.txt.
include_guard(GLOBAL)
add_test(NAME bundle_by_hand COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bundle_by_hand.sh $<TARGET_FILE:khronika>)
set_tests_properties(bundle_by_hand PROPERTIES LABELS integration TIMEOUT 240)

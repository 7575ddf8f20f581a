# gsn_add_fuzzer(NAME SOURCES... LIBS...)
#
# With clang, NAME is a libFuzzer binary (-fsanitize=fuzzer).  With any other
# compiler it is linked with tests/fuzz/replay_main.c, a driver that runs the
# harness over files given on the command line, so corpora replay everywhere.
# Every harness replays its corpus directory tests/fuzz/corpus/NAME as a ctest
# test; with GSN_FUZZ_RUN_SECONDS > 0 a timed fuzzing run is added as well.
function(gsn_add_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz_replay.${name} COMMAND ${name} -runs=0 ${corpus})
    if(GSN_FUZZ_RUN_SECONDS GREATER 0)
      set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work/${name})
      add_test(NAME fuzz_run.${name}
        COMMAND ${CMAKE_COMMAND} -E env
          sh -c "mkdir -p '${work}' && exec '$<TARGET_FILE:${name}>' -max_total_time=${GSN_FUZZ_RUN_SECONDS} -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 '${work}' '${corpus}'")
      set_tests_properties(fuzz_run.${name} PROPERTIES LABELS fuzz TIMEOUT 900)
    endif()
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
    add_test(NAME fuzz_replay.${name} COMMAND ${name} ${corpus})
  endif()
  set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS fuzz)
endfunction()

# Checks that server/inference/'s includes follow its layout (run by ctest
# as inference_layout_test: cmake -DSOURCE_DIR=<repository> -P this file):
#
#   serving/   may include model/, tokenizer/ (and common/)
#   tools/     may include model/, tokenizer/
#   model/     may include tokenizer/
#   tokenizer/ none of them
#
# serving and tools do not use each other; no source file lies at
# server/inference/'s top level; torch headers are included only by model/'s
# engine files; the torch-free libraries (fnprobe_model_config, and
# fnprobe_tools that fnprobe-make-model links) include none of the torch
# engine's headers.
cmake_minimum_required(VERSION 3.18)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "pass -DSOURCE_DIR=<repository root>")
endif()
set(root ${SOURCE_DIR}/server/inference)
set(allowed_tokenizer tokenizer)
set(allowed_model model tokenizer)
set(allowed_serving serving model tokenizer)
set(allowed_tools tools model tokenizer)
# model/ files that may include torch headers.
set(torch_files capture_visitor.cc capture_visitor.h cpu_threads.cc
    intervention_applier.cc
    intervention_applier.h kv_cache.cc kv_cache.h model.cc model_rep.h
    model_weights.cc model_weights.h small_rows_linear.cc small_rows_linear.h
    torch_engine.cc transformer.cc
    transformer.h)
# Files built without libtorch and the model/ headers they may include.
set(torch_free_model_headers model_config.h hook_points.h
    family_tensor_names.h)

set(errors "")

file(GLOB top LIST_DIRECTORIES false RELATIVE ${root} ${root}/*)
list(REMOVE_ITEM top CMakeLists.txt)
foreach(f IN LISTS top)
  string(APPEND errors "server/inference/${f}: a file outside the folders\n")
endforeach()

foreach(folder tokenizer model serving tools)
  file(GLOB files RELATIVE ${root}/${folder}
       ${root}/${folder}/*.h ${root}/${folder}/*.cc)
  foreach(f IN LISTS files)
    set(path server/inference/${folder}/${f})
    file(STRINGS ${root}/${folder}/${f} includes REGEX "^#include ")
    foreach(line IN LISTS includes)
      if(line MATCHES "^#include \"server/inference/([a-z_]+)/([a-z_0-9]+\\.h)\"")
        set(to ${CMAKE_MATCH_1})
        set(header ${CMAKE_MATCH_2})
        if(NOT to IN_LIST allowed_${folder})
          string(APPEND errors "${path}: includes ${to}/${header}\n")
        endif()
        # fnprobe_model_config's own files, and fnprobe_tools' (all of
        # tools/ but offline_capture), build without libtorch.
        set(torch_free FALSE)
        if(folder STREQUAL "model" AND f MATCHES "^(model_config|hook_points|family_tensor_names)\\.")
          set(torch_free TRUE)
        elseif(folder STREQUAL "tools" AND NOT f MATCHES "^(offline_capture|capture_main)\\.")
          set(torch_free TRUE)
        endif()
        if(torch_free AND to STREQUAL "model" AND
           NOT header IN_LIST torch_free_model_headers)
          string(APPEND errors "${path}: includes model/${header}, "
                 "of fnprobe_model (libtorch)\n")
        endif()
      elseif(line MATCHES "^#include \"server/inference/")
        string(APPEND errors "${path}: ${line}: not in a folder\n")
      elseif(line MATCHES "^#include <(torch|ATen|c10)/")
        if(NOT folder STREQUAL "model" OR NOT f IN_LIST torch_files)
          string(APPEND errors "${path}: ${line}\n")
        endif()
      endif()
    endforeach()
  endforeach()
endforeach()

if(errors)
  message(FATAL_ERROR "server/inference/ layout broken:\n${errors}")
endif()
message(STATUS "server/inference/ layout: ok")

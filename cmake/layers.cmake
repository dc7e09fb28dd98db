# The layer rules that link lines must keep (DESIGN.md "Layers"), checked at configure time:
# pmemfs_forbid_links(TARGET LIB...) fails the configuration when TARGET links any of LIB,
# directly or through the libraries it links. pmemfs_layer() (CMakeLists.txt) keeps a layer
# from including the headers above it; this keeps a tool from linking a layer it must not use
# (one stray target_link_libraries would otherwise pass unnoticed: the headers of every layer
# below the linked one are visible).

# Sets `out` to every target TARGET links, transitively (imported and alias targets included;
# plain library names and link flags are skipped).
function(pmemfs_linked_targets target out)
  set(seen)
  set(todo)
  get_target_property(direct ${target} LINK_LIBRARIES)
  if(direct)
    list(APPEND todo ${direct})
  endif()
  while(todo)
    list(POP_FRONT todo lib)
    # $<LINK_ONLY:x>: a private dependency of a static library, still linked.
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" lib "${lib}")
    if(NOT TARGET "${lib}")
      continue()
    endif()
    get_target_property(aliased "${lib}" ALIASED_TARGET)
    if(aliased)
      set(lib "${aliased}")
    endif()
    if(lib IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${lib}")
    get_target_property(next "${lib}" INTERFACE_LINK_LIBRARIES)
    if(next)
      list(APPEND todo ${next})
    endif()
  endwhile()
  set(${out} "${seen}" PARENT_SCOPE)
endfunction()

function(pmemfs_forbid_links target)
  pmemfs_linked_targets(${target} linked)
  foreach(lib IN LISTS ARGN)
    if(lib IN_LIST linked)
      message(FATAL_ERROR "${target} links ${lib}, which its layer must not use "
                          "(cmake/layers.cmake; linked: ${linked})")
    endif()
  endforeach()
endfunction()

# The tools are built on fs/store and mapping/, never on fs/core, the daemon's config or FUSE.
foreach(tool mkpmemfs pmemfs-fsck pmemfs-tune pmemfs-devinfo pmemfs_fsck_lib pmemfs_tune_lib)
  pmemfs_forbid_links(${tool} pmemfs_core pmemfs_config pmemfs_mount pmemfs_fuse PkgConfig::FUSE3)
endforeach()
# pmemfs-devinfo works at the mapping level only.
pmemfs_forbid_links(pmemfs-devinfo pmemfs_store)
# client/ is built on mapping/ and include/ only.
foreach(lib pmemfs-client pmemfs-preload pmemfs_client_objs pmemfs-direct)
  pmemfs_forbid_links(${lib} pmemfs_store pmemfs_core pmemfs_config pmemfs_mount pmemfs_fuse
                      PkgConfig::FUSE3)
endforeach()
# fs/core and below know nothing of FUSE or the daemon's configuration.
foreach(lib pmemfs_mapping pmemfs_store pmemfs_core)
  pmemfs_forbid_links(${lib} pmemfs_config pmemfs_mount pmemfs_fuse PkgConfig::FUSE3)
endforeach()

# What `cmake --install` puts beside the programs, and the Debian package (`cpack -G DEB` in the
# build directory: pmemfs_VERSION_ARCH.deb). tests/package builds, installs and purges it.
include(GNUInstallDirs)

# /etc/pmemfs.conf, where the daemon looks (config::kDefaultConfigPath), whatever the prefix.
# `cmake --install` keeps one that exists (an administrator's); the package marks it a conffile.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}/etc/pmemfs.conf\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}/etc/pmemfs.conf (the example: \${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}/examples)\")
  else()
    file(INSTALL \"${CMAKE_SOURCE_DIR}/etc/pmemfs.conf\" DESTINATION /etc)  # under DESTDIR
  endif()")
install(FILES README.md docs/DESIGN.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES etc/pmemfs.conf etc/fstab.example etc/mnt-pmem.mount etc/pmemfs-fsck@.service
              etc/xfstests-local.config etc/README.md
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")

set(CPACK_PACKAGE_NAME pmemfs)
set(CPACK_PACKAGE_VENDOR "pmemfs")
set(CPACK_PACKAGE_CONTACT "pmemfs maintainers <pmemfs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FUSE filesystem on persistent memory (devdax, fsdax, emulated)")
set(CPACK_PACKAGE_DESCRIPTION
    "pmemfs serves files from persistent memory: devdax devices, files on fsdax filesystems or
files that emulate pmem. Three access modes (copy, direct, pages), a redo journal for atomic
metadata, a RAM partition for volatile files. Includes mkpmemfs (mkfs.pmemfs), pmemfs-fsck
(fsck.pmemfs), pmemfs-tune and pmemfs-devinfo.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pmemfs_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries' packages (libfuse3-3, libpmem2, ...) from dpkg-shlibdeps; fuse3 for
# mount.fuse3 and fusermount3, which mount(8) and the daemon run.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ndctl, daxctl")
set(conffiles "${CMAKE_BINARY_DIR}/debian/conffiles")
file(WRITE "${conffiles}" "/etc/pmemfs.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${conffiles}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

-- The only folders a locked connection may read ($dirs: the lake's root).
SET allowed_directories = $dirs

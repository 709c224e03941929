-- No setting can be changed from here on.
SET lock_configuration = true

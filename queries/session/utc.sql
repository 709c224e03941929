-- Every stored instant is UTC; local time is always converted explicitly with timezone('Pacific/Auckland', ...).
SET TimeZone = 'UTC'

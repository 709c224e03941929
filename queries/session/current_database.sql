-- The name of the connection's database (the Flight SQL catalog).
SELECT current_database()

data_directory = '/srv/postgresql/15/main'
listen_addresses = '*'
port = 5432
max_connections = 400
shared_buffers = 8GB

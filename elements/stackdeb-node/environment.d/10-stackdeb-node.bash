# What a node installs from Debian in a cluster run (MariaDB, memcached, RabbitMQ, the
# services' runtime packages): stackdeb image node sets it (builders/images.py).
export DIB_STACKDEB_DEBIAN_PACKAGES=${DIB_STACKDEB_DEBIAN_PACKAGES:-}

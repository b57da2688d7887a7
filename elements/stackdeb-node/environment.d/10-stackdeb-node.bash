# The Debian packages a cluster role may run beside the services (MariaDB, memcached,
# RabbitMQ): stackdeb image node sets it from the cluster stage's list.
export DIB_STACKDEB_INFRASTRUCTURE=${DIB_STACKDEB_INFRASTRUCTURE:-}

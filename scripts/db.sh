# Sourced by the scripts that talk to MariaDB: defines `sql`, the mariadb
# client with the connection from the environment.
#
# TICKET_DB_SOCKET (a unix socket) or TICKET_DB_HOST and TICKET_DB_PORT;
# TICKET_DB_USER (root), TICKET_DB_PASSWORD, TICKET_DB_NAME (ticket).

TICKET_DB_NAME=${TICKET_DB_NAME:-ticket}

ticket_mysql_args=(--no-defaults -u"${TICKET_DB_USER:-root}" --batch
                   --skip-column-names)
if [ -n "${TICKET_DB_PASSWORD:-}" ]; then
    ticket_mysql_args+=(-p"$TICKET_DB_PASSWORD")
fi
if [ -n "${TICKET_DB_SOCKET:-}" ]; then
    ticket_mysql_args+=(--socket="$TICKET_DB_SOCKET")
else
    ticket_mysql_args+=(--host="${TICKET_DB_HOST:-127.0.0.1}"
                        --port="${TICKET_DB_PORT:-3306}" --protocol=tcp)
fi

sql() { mariadb "${ticket_mysql_args[@]}" "$@"; }

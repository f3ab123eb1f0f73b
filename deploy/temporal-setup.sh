#!/bin/sh
# Sets up docker-compose.yml's Temporal cluster with the tools of the temporalio/admin-tools
# image (the same release as temporalio/server). Every start of the stack runs both steps;
# each is a no-op when there is nothing to do.
#
#   temporal-setup.sh schema     before the server starts: create the temporal and
#                                temporal_visibility databases, bring their schemas up to date
#                                (SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD)
#   temporal-setup.sh namespace  once the frontend answers: create TEMPORAL_NAMESPACE, register
#                                the engine's search attributes (workflows/visibility.py), wait
#                                until queries accept them (TEMPORAL_ADDRESS)
set -eu

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
ATTEMPTS=60
PAUSE_SECONDS=2

# retry WHAT COMMAND...: run COMMAND until it succeeds, at most ATTEMPTS times.
retry() {
    what=$1
    shift
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "temporal-setup: gave up: $what" >&2
            return 1
        fi
        echo "temporal-setup: waiting: $what ($attempt/$ATTEMPTS)"
        attempt=$((attempt + 1))
        sleep "$PAUSE_SECONDS"
    done
}

schema() {
    # create-database does nothing when the database exists; update-schema applies only the
    # versions a database lacks.
    for database in temporal:temporal temporal_visibility:visibility; do
        name=${database%%:*}
        retry "database $name" temporal-sql-tool --db "$name" create-database
        temporal-sql-tool --db "$name" setup-schema -v 0.0
        temporal-sql-tool --db "$name" update-schema -d "$SCHEMA_DIR/${database#*:}/versioned"
    done
    echo "temporal-setup: schemas up to date"
}

namespace() {
    address=${TEMPORAL_ADDRESS:?}
    namespace=${TEMPORAL_NAMESPACE:-default}
    retry "cluster health at $address" \
        temporal operator cluster health --address "$address"
    if ! temporal operator namespace describe --address "$address" -n "$namespace" >/dev/null 2>&1; then
        retry "namespace $namespace created" temporal operator namespace create \
            --address "$address" -n "$namespace" --retention "${NAMESPACE_RETENTION:-168h}"
    fi
    # The engine's search attributes: workflows/visibility.py SEARCH_ATTRIBUTES (the worker
    # registers missing ones too; here they exist before any worker or run needs them).
    retry "search attributes registered" temporal operator search-attribute create \
        --address "$address" -n "$namespace" \
        --name AgentStatus --type Keyword \
        --name AgentGoal --type Text \
        --name AgentTaskCount --type Int \
        --name RerunOf --type Keyword
    retry "search attributes queryable" temporal workflow list \
        --address "$address" -n "$namespace" --limit 1 \
        --query "AgentStatus = 'running' AND AgentTaskCount > 0"
    echo "temporal-setup: namespace $namespace ready"
}

case "${1:-}" in
    schema) schema ;;
    namespace) namespace ;;
    *)
        echo "usage: temporal-setup.sh schema|namespace" >&2
        exit 2
        ;;
esac

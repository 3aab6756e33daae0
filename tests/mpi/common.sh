# Sourced by the MPI tests: a scratch folder, two-rank and one-process runs of tweedie, failure.
#   needs: tweedie, mpiexec set by the caller; gives: tmp, fail, ranks2, one
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "$(basename "$0" .sh): $*" >&2; exit 1; }

# CI runs as root in a container: Open MPI refuses root unless told, and its shared-memory transport's
# single-copy mode needs ptrace rights a container lacks.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# ctest runs other tests beside this one: ranks are not pinned to cores and yield while they wait, so
# a rank waiting in a collective does not spin on a core another test needs. Every run has 1 thread.
export OMPI_MCA_mpi_yield_when_idle=1
ranks2() { timeout 300 "$mpiexec" -n 2 --oversubscribe --bind-to none "$tweedie" "$@" --threads 1; }
one() { "$tweedie" "$@" --threads 1; }

# webpush: Web Push notifications from PostgreSQL (PGXS build)

MODULE_big = webpush
# One folder per layer, lowest first; a file includes only from its own
# layer and the layers listed above it (scripts/check-layers.sh).
OBJS = \
	src/support/safe_text.o \
	src/support/spi_util.o \
	src/support/local_time.o \
	src/crypto/b64.o \
	src/crypto/random_pool.o \
	src/crypto/p256.o \
	src/crypto/ece.o \
	src/crypto/vapid.o \
	src/http/endpoint.o \
	src/http/retry_after.o \
	src/http/curl.o \
	src/http/http2.o \
	src/http/http.o \
	src/push/subscription.o \
	src/push/receipt.o \
	src/push/host_match.o \
	src/push/payload_limits.o \
	src/push/host_rates.o \
	src/push/notification.o \
	src/push/push.o \
	src/shmem/areas.o \
	src/shmem/counters.o \
	src/shmem/registry.o \
	src/shmem/rates.o \
	src/shmem/cap_book.o \
	src/shmem/cap_holds.o \
	src/shmem/tokens.o \
	src/queue/applications.o \
	src/queue/app_access.o \
	src/queue/subscriptions.o \
	src/queue/enqueue.o \
	src/queue/cap_counts.o \
	src/queue/claim.o \
	src/queue/settle.o \
	src/queue/record.o \
	src/queue/upkeep.o \
	src/queue/recalls.o \
	src/queue/insert_target.o \
	src/queue/insert.o \
	src/worker/verdict.o \
	src/worker/host_rules.o \
	src/worker/cap_rules.o \
	src/worker/delivery.o \
	src/worker/frequency_cap.o \
	src/worker/rates.o \
	src/worker/recall.o \
	src/worker/hosts.o \
	src/worker/outcome_counts.o \
	src/worker/worker.o \
	src/worker/launcher.o \
	src/worker/ddl_hook.o \
	src/sql/args.o \
	src/sql/validate.o \
	src/sql/keys.o \
	src/sql/subscriptions.o \
	src/sql/send.o \
	src/sql/send_now.o \
	src/sql/notification.o \
	src/sql/notify.o \
	src/sql/receipts.o \
	src/sql/time_zones.o \
	src/sql/frequency_caps.o \
	src/sql/rates.o \
	src/sql/trace.o \
	src/sql/workers.o \
	src/sql/stats.o \
	src/sql/drop_guard.o \
	src/settings.o \
	src/webpush.o

EXTENSION = webpush
# CREATE EXTENSION webpush runs webpush--0.4.sql alone: the whole schema of
# the current version.  Databases on an older version (and CREATE EXTENSION
# ... VERSION '0.1' to '0.3') go through webpush--0.1.sql and the update
# scripts; the schema test checks that both ways end in the same catalog.
DATA = webpush--0.4.sql \
	webpush--0.1.sql webpush--0.1--0.2.sql webpush--0.2--0.3.sql webpush--0.3--0.4.sql
PGFILEDESC = "webpush - Web Push notifications from PostgreSQL"

REGRESS = setup encrypt keys subscriptions send_errors notification broadcast applications triggers messages tenants receipts search_path schema dba_tables local_time frequency_caps rates secrets
# The pg_regress files are in test/sql and test/expected.
REGRESS_OPTS = --inputdir=test

PG_CPPFLAGS = -I$(srcdir)/src
# -Wextra less -Wunused-parameter: PostgreSQL's own headers (inline functions,
# PG_FUNCTION_ARGS) trigger it by design.  Our code is warning-free otherwise.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter
SHLIB_LINK = -lcurl -lnghttp2 -lssl -lcrypto

# make SANITIZE=1: AddressSanitizer and UBSan, for harnesses that link the
# pure-C modules (PostgreSQL 15 hangs at start with libasan preloaded, so the
# server-level suite uses valgrind instead: scripts/test.sh --valgrind).
ifdef SANITIZE
PG_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SHLIB_LINK += -fsanitize=address,undefined
with_llvm = no
endif

# make WEBPUSH_TEST_HOOKS=1: a library for the tests, with the test-only
# entry points of src/sql/test_hooks.c (the isolation specs drive the queue's
# claim and record steps through them), and installcheck runs the specs
# too.  Production builds (plain make, the Debian package) have neither.
ifdef WEBPUSH_TEST_HOOKS
OBJS += src/sql/test_hooks.o
PG_CPPFLAGS += -DWEBPUSH_TEST_HOOKS
ISOLATION = claim settle cancel cancel_recall recall_limit cancel_intake move moves unsubscribe retire quota quota_notify recall keys_race
# The specs are in test/isolation/specs, their output in test/isolation/expected.
ISOLATION_OPTS = --inputdir=test/isolation
endif
EXTRA_CLEAN = src/.test-hooks src/sql/test_hooks.o src/sql/test_hooks.bc output_iso/

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# claim_reads reads the index's statistics right after a claim, which
# pg_stat_force_next_flush() (PostgreSQL 15 and later) makes possible.
ifdef WEBPUSH_TEST_HOOKS
ifeq ($(shell test $(MAJORVERSION) -ge 15 && echo yes),yes)
ISOLATION += claim_reads
endif
endif

# The library is linked again whenever WEBPUSH_TEST_HOOKS changes from one
# build to the next, so a plain make after a test build drops the hooks:
# src/.test-hooks says which build the objects are of, and is written (its
# time changed) only when that changes.
hooks_build = $(if $(WEBPUSH_TEST_HOOKS),on,off)
$(shlib): src/.test-hooks
src/.test-hooks: hooks-check
	@echo $(hooks_build) | cmp -s - $@ || echo $(hooks_build) > $@
.PHONY: hooks-check

# Out-of-tree builds (pg_buildext builds in build-NN/ with VPATH set) need
# the objects' directories.
ifdef VPATH
$(shell mkdir -p $(sort $(dir $(OBJS))))
endif

# PGXS tracks no header dependencies; the headers are few, so depend on all.
$(OBJS): $(wildcard src/*.h src/*/*.h)

# The sanitizer runs of the whole suite (each builds what it needs):
#   make check-asan       on a PostgreSQL built with ASan + UBSan
#   make check-valgrind   with the server under valgrind memcheck
check-asan:
	bash scripts/test.sh --asan
check-valgrind:
	bash scripts/test.sh --valgrind
.PHONY: check-asan check-valgrind

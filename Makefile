# Builds the NGINX module, the FastCGI worker and the C unit tests into
# build/.  `make run` starts the whole stack, `make test` runs every test.
# BUILD=DIR (or TICKET_BUILD=DIR in the environment, which the tests and
# the bench read too) builds elsewhere, so that the sanitizer build lives
# beside the plain one: `make SANITIZE=1 BUILD=build/asan`.

SHELL         := /bin/bash
NGINX_SRC     ?= /usr/share/nginx/src
BUILD         := $(or $(TICKET_BUILD),build)
NGINX_BUILD   := $(BUILD)/nginx
MODULE_SO     := $(NGINX_BUILD)/objs/ngx_http_ticket_module.so
WORKER_BIN    := $(BUILD)/worker/ticket-worker
WORKER_LIB    := $(BUILD)/worker/libworker.a

CC            ?= cc
WARN          := -Wall -Wextra -Werror
OPT           ?= -O2 -g
SAN_FLAGS     :=
ifeq ($(SANITIZE),1)
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
endif

PKGS          := libmariadb yajl fcgi hiredis zlib
PKG_CFLAGS    := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS      := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL    := $(WARN) $(OPT) $(SAN_FLAGS) -std=gnu11 -pthread \
                 -D_GNU_SOURCE -Icommon -Iworker $(PKG_CFLAGS) $(CFLAGS)
LIBS_ALL      := $(PKG_LIBS) -lcrypto -lcrypt -lpthread $(LDLIBS)

COMMON_SRCS   := $(wildcard common/*.c)
WORKER_SRCS   := $(filter-out worker/main.c,$(wildcard worker/*.c))
COMMON_OBJS   := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
WORKER_OBJS   := $(WORKER_SRCS:%.c=$(BUILD)/%.o)
MODULE_SRCS   := $(wildcard ngx_ticket_module/*.c ngx_ticket_module/*.h \
                   common/*.c common/*.h) config

# Unit tests: t/unit/test_NAME.c links the worker library, the shared code
# and, for module logic, the NGINX-free pure C files of the module.
UNIT_SRCS     := $(wildcard t/unit/test_*.c)
UNIT_BINS     := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/t/%)
MODULE_PURE   := $(wildcard ngx_ticket_module/ticket_*.c)
MODULE_PURE_OBJS := $(MODULE_PURE:%.c=$(BUILD)/%.o)

# A stamp records the sanitizer setting, so switching it rebuilds all.
FLAVOR_STAMP  := $(BUILD)/.flavor-$(if $(SAN_FLAGS),sanitize,plain)

.PHONY: all module worker unit run stop status test deps clean bench storm \
        fuzz

all: module worker unit storm

$(FLAVOR_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.flavor-*
	@rm -rf $(BUILD)/common $(BUILD)/worker $(BUILD)/t \
	        $(BUILD)/ngx_ticket_module $(NGINX_BUILD)
	@touch $@

# --- the NGINX module -------------------------------------------------------

module: $(MODULE_SO)

$(NGINX_BUILD)/Makefile: $(FLAVOR_STAMP) config
	rm -rf $(NGINX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGINX_BUILD)
	. $(NGINX_SRC)/conf_flags && cd $(NGINX_BUILD) && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(WARN) -Wno-unused-parameter $(SAN_FLAGS) -g" \
	        --with-ld-opt="$(SAN_FLAGS)" \
	        --add-dynamic-module=$(CURDIR) > configure.log 2>&1 || \
	    { tail -30 configure.log; exit 1; }

$(MODULE_SO): $(NGINX_BUILD)/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(NGINX_BUILD) -f objs/Makefile modules

# --- the worker -------------------------------------------------------------

worker: $(WORKER_BIN)

$(BUILD)/%.o: %.c $(FLAVOR_STAMP) $(wildcard common/*.h worker/*.h \
                                        ngx_ticket_module/ticket_*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(WORKER_LIB): $(WORKER_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(WORKER_BIN): $(BUILD)/worker/main.o $(WORKER_LIB)
	$(CC) $(CFLAGS_ALL) $^ $(LIBS_ALL) -o $@

# --- unit tests ---------------------------------------------------------------

unit: $(UNIT_BINS)

$(BUILD)/t/%: t/unit/%.c t/unit/tap.h $(WORKER_LIB) $(MODULE_PURE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -It/unit -Ingx_ticket_module $< \
	    $(MODULE_PURE_OBJS) $(WORKER_LIB) $(LIBS_ALL) -o $@

# --- the load generator (bench/storm) ----------------------------------------

STORM_BIN     := $(BUILD)/bench/storm
STORM_SRCS    := $(wildcard bench/storm/*.c)
STORM_OBJS    := $(STORM_SRCS:bench/storm/%.c=$(BUILD)/bench/storm-obj/%.o)

storm: $(STORM_BIN)

$(BUILD)/bench/storm-obj/%.o: bench/storm/%.c $(FLAVOR_STAMP) \
                              $(wildcard bench/storm/*.h common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(STORM_BIN): $(STORM_OBJS) $(COMMON_OBJS)
	$(CC) $(CFLAGS_ALL) $^ -lcrypto -lz -lm -o $@

# The storm's unit test includes the pure sources it tests.
$(BUILD)/t/test_storm_http: $(wildcard bench/storm/*.c bench/storm/*.h)

# --- fuzzing (libFuzzer, clang from Debian) -----------------------------------
# `make fuzz` builds build/fuzz/fuzz_NAME from fuzz/fuzz_NAME.c and the pure
# sources it exercises; t/70-fuzz.t runs each one for a bounded time and
# fuzz/run for longer (see fuzz/README.md).

FUZZ_CC       ?= clang
FUZZ_FLAGS    := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined -g -O1
FUZZ_SRCS     := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS     := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_PURE     := common/ticket_token.c worker/util.c worker/json.c \
                 worker/router.c worker/idlist.c worker/origin.c \
                 $(MODULE_PURE)

fuzz: $(FUZZ_BINS)

$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_PURE) $(wildcard common/*.h worker/*.h \
                                              ngx_ticket_module/ticket_*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -std=gnu11 -D_GNU_SOURCE -Icommon \
	    -Iworker -Ingx_ticket_module $(shell pkg-config --cflags yajl) \
	    $< $(FUZZ_PURE) $(shell pkg-config --libs yajl) -lcrypto -o $@

# --- running and testing ----------------------------------------------------

deps:
	scripts/install-deps

run:
	scripts/up

stop:
	scripts/stack stop

status:
	scripts/stack status

test:
	scripts/test

bench: all
	bench/edge/run

clean:
	rm -rf $(BUILD)

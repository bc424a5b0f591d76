# completion/: bash completion for condctl, installed as "condctl" where bash-completion looks
# for it (configure finds the directory with pkg-config, kept under ${prefix}; without
# bash-completion's .pc file, $(datadir)/bash-completion/completions). The installed file is a
# copy of condctl.bash under the command's name, which is how bash-completion finds it.

bashcompletiondir = $(BASH_COMPLETION_DIR)
bashcompletion_DATA = completion/condctl
EXTRA_DIST += completion/condctl.bash
CLEANFILES += completion/condctl

completion/condctl: $(top_srcdir)/completion/condctl.bash
	$(AM_V_GEN)$(MKDIR_P) completion && cp $(top_srcdir)/completion/condctl.bash $@

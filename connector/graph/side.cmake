# The networked runtime of the Graph side: the daemon component
# (graph_component), user lookups, subscriptions, the webhook and presence
# reads, on the shared Graph client. Included from CMakeLists.txt when present.
ps_module(ps_graph_side
    SOURCES graph_side.c users.c subscriptions.c resync.c webhook.c identity.c
    LIBS ps_graph_client ps_graph ps_core PkgConfig::CJSON PkgConfig::SSL PkgConfig::CURL Threads::Threads)

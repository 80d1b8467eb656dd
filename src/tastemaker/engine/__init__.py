"""The engine: the named stages that make a served list (recommendations, featured listing).

    profile signals -> candidate sources -> scoring -> hard filters and negative feedback
    -> rules, diversity, exploration -> served list with reasons -> platform events

Used the same way by the HTTP routes, the command line and evaluation; see
:class:`tastemaker.engine.runtime.Engine`.
"""

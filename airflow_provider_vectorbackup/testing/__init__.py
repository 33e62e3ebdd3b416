"""Wire-faithful local stand-ins for the services this provider talks to.

They let the real ``astrapy`` and ``boxsdk`` clients run over real HTTP with no cloud account,
in this project's tests, in the offline demo, and in our users' own CI.
"""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The embedded demo: its data, `seed_demo`, `serve_demo` and the `simulator` command.

    It sits above every other app, because seeding a demo touches all of them.
    """

    name = "evolab.demo"
    label = "demo"

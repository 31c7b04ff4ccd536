pytest_plugins = [
    "tests.fixtures.controlplane",
    "tests.fixtures.registries",
    "tests.fixtures.emulator",
    "tests.fixtures.containerd",
    "tests.fixtures.node",
]

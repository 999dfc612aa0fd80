"""A second module, so a handler can be named by another module in the same zip."""


def handler(event, context):
    return {"module": __name__}

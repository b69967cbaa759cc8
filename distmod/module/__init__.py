"""``mx.mod``: the Module family (BaseModule, Module; more modules build on these)."""
from .base_module import BaseModule
from .module import Module

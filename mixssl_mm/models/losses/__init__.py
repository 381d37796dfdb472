from .reconstruction_loss import ReconstructionLoss
from .transparency_loss import TransparencyLoss

__all__ = ['ReconstructionLoss', 'TransparencyLoss']
